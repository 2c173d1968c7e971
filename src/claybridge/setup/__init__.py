"""Setup as code: the setup file (``claybridge.yaml``) read, checked, applied, exported.

``document`` parses YAML keeping each key's line; ``model`` validates a file into a
:class:`~claybridge.setup.model.Setup`; ``secrets`` resolves ``${VAR}`` references;
``apply`` brings a database in line with a setup (all or nothing, with a field diff);
``export`` writes a database's setup back as a file (secrets as references).
"""
