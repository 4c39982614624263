"""`python -m gateway.cli`: the same as the `arbridge` script."""

from gateway.cli.main import main

main()
