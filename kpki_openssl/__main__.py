from kpki_openssl.cli import main

raise SystemExit(main())
