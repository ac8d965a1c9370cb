try:
    from initscope.cli import main
except KeyboardInterrupt:  # Ctrl+C while Python starts: one line, no traceback (issue 20)
    import sys

    print("\ninitscope: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":  # the training process is spawned; it must not re-run the CLI on import
    raise SystemExit(main())
