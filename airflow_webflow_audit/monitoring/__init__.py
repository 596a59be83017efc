"""Monitoring of landed audit logs: detection rules, a baseline kept beside the data, findings."""
