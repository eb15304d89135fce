"""Artifact integrity: the domain core shared by `artifactctl` (CI, operators) and the pipeline's
Validate step. Building, signing and verifying manifests of a `cdk.out` tree, provenance, blessed
contexts and publishing. Only `publish`, `contexts` and the KMS parts of `signing` touch AWS, and they
import boto3 lazily so that an offline verify starts fast."""
