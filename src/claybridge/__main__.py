from claybridge.cli import main

main()
