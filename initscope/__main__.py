from initscope.cli import main

raise SystemExit(main())
