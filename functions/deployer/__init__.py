"""The deployer that CodeBuild runs: deploy one service's stacks of one environment from a `cdk.out`.

`assembly` selects and orders the stacks from the cloud assembly, `session` assumes the service's deploy
role with self-renewing credentials, `deploy` drives CloudFormation change sets, and `__main__` is the
command line (`python -m functions.deployer --help`)."""
