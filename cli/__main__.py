from variet.cli import main

raise SystemExit(main())
