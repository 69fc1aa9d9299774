"""Notes: the containerized web service that the infrastructure in this repository deploys."""
