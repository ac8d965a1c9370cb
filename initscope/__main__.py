from initscope import interrupt

interrupt.install()  # first: Ctrl+C during the imports below must not end the process by SIGINT

try:
    from initscope.cli import main
except (KeyboardInterrupt, RuntimeError) as e:  # Ctrl+C while Python starts: one line, no traceback (issue 20)
    import sys

    if not interrupt.caused_by_ctrl_c(e):
        raise  # a RuntimeError of its own; Ctrl+C inside a dataclass's __set_name__ arrives wrapped in one
    print("\ninitscope: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":  # the training process is spawned; it must not re-run the CLI on import
    raise SystemExit(main())
