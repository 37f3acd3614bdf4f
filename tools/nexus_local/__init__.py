"""Docker-free local stack: runs the SAM application from template.yaml in-process."""
