"""The shared evaluation harness."""
