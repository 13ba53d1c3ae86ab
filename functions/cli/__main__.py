"""``python -m functions.cli`` = ``creditrisk`` (tests run the real entry point in a subprocess)."""

from functions.cli import main

if __name__ == "__main__":
    main()
