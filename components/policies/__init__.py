"""IAM, bucket and key policy documents as pure data.

Builders take plain strings or Pulumi Inputs and return dicts; components serialize them with
`pulumi.Output.json_dumps`. Keeping them free of resources lets the tests lint every document
(parliament) and assert on statements without running the program.
"""
