"""``python -m airflow_webflow_audit.testing.simulator``: serve the simulator (see ``--help``)."""

from airflow_webflow_audit.testing.simulator.cli import main

main()
