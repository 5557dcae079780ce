from simcore.cli import main

main()
