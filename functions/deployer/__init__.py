"""The deployer that CodeBuild runs: deploy one service's stacks of one environment from a `cdk.out`.

`request` says what to do (`DeployRequest`, `Mode`, the run's `RunVariables`; pure, the Pulumi program
imports `Mode`), `runner.run` does it: `assembly` selects and orders the stacks from the cloud assembly,
`functions.sessions` assumes the service's deploy role with self-renewing credentials, and `deploy`
drives CloudFormation change sets (`change_sets`, `repair`, `drift`, `stacks`, `waiting`). The entries:
`__main__` (the command line, `python -m functions.deployer --help`), `codebuild` (the deployer builds)
and `test_runner` (the test and smoke builds)."""
