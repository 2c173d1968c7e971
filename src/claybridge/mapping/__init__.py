"""Mappings: how a source turns an event into an ordered list of actions.

Pure code: paths, typed coercion, conditions, the configuration model and the plan it
produces. Nothing here touches the database or the network.
"""
