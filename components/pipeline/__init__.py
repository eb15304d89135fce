"""The `DeployArtifactPipeline` and what it runs, one component per concern (spec: Stage Deployment +
Testing, Production Deployment + Smoke Testing, Configurable Rollback Retry Policy; DESIGN.md: the
pipeline).

- `events`: the custom EventBridge bus, the critical-alerts topic, the functions' dead-letter queue,
  and the triggers (`Object Created` of `*/artifact-manifest.json` in the candidate bucket goes to
  intake, which verifies it, creates the candidate item and starts stage; in the release bucket to the
  dispatcher, which starts prod);
- `functions`: the Lambda functions, their layer, log groups and asynchronous-invocation config;
- `builds`: the CodeBuild projects (deployer per environment, stage tests, prod smoke) and their
  source bundle;
- `definition`: the state machine's definition (ASL) as plain data, pure (no Pulumi, no AWS);
- `state_machine`: the Step Functions state machine, declared with that definition;
- `deploy_pipeline`: `DeployPipeline`, which wires them together with the pipeline's log key.

Nothing is imported here, so that `definition` stays importable without Pulumi.
"""
