"""Pulumi components of the control plane, one file per concern.

Tools account: `ci_identity` (GitHub OIDC, CI and context-generator roles), `pipeline_identity`
(the deployer and finalizer roles the service accounts trust). Service accounts (stage and prod):
`service_deploy_roles` (deploy, CloudFormation execution and read-only roles) and `cdk_bootstrap`
(the least-privilege `cdk bootstrap` equivalent), composed per service by `service_account`.
Shared building blocks: `scoped_role`, `secure_bucket`, `naming`, `policies/`.
"""
