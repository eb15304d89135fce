"""Code that runs in AWS (Lambda handlers, the CodeBuild deployer) and the domain core it shares with
`artifactctl`. Nothing here imports Pulumi; `components/` may import constants from here, never the
other way round."""
