from lumbarqi.cli import main

raise SystemExit(main())
