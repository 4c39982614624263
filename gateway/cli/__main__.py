"""`python -m gateway.cli`: the same as the `arbridge` script."""

from gateway.cli.main import main

if __name__ == "__main__":  # not again in a process multiprocessing spawns (the match planner)
    main()
