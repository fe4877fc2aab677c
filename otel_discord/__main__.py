from otel_discord.cli import main

raise SystemExit(main())
