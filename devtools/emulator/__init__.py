"""The local AWS emulator the end-to-end tests and `make demo` share: moto, plus the bridges for what
moto lacks (each documented where it is), and the harness that builds the pipeline's runtime from the
program's own resource graph. Never part of what is deployed."""
