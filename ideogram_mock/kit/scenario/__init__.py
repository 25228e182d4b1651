"""The contract kit for Scenario's API (`make contract PROVIDER=scenario`)."""
