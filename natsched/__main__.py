from natsched.cli import main

raise SystemExit(main())
