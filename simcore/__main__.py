from simcore.cli import entry

if __name__ == "__main__":  # a worker process imports it again (report figures)
    entry()
