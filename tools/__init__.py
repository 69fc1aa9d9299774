"""Deploy tooling: the provider mirror setting, the Terraform runner and the `make demo` command."""
