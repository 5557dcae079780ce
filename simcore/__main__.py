from simcore.cli import entry

entry()
