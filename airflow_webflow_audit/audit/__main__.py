from airflow_webflow_audit.audit.cli import main

raise SystemExit(main())
