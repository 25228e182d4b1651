"""The contract kit for Segmind's serverless API (`make contract PROVIDER=segmind`)."""
