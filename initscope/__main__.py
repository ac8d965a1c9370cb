from initscope.cli import main

if __name__ == "__main__":  # the training process is spawned; it must not re-run the CLI on import
    raise SystemExit(main())
