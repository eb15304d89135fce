"""Every path of the pipeline, executed: the final metadata item, the events and the S3 objects."""

from __future__ import annotations

from .harness import Harness

GOOD = "a" * 40
BAD = "b" * 40


def test_happy_path_stage_to_prod(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    stage = pipeline.run("stage", GOOD)
    assert stage["status"] == "SUCCEEDED", stage
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted"
    assert item["environment_states"]["stage"]["status"] == "deployed"
    assert item["environment_states"]["stage"]["test_status"] == "test_passed"
    assert item["environment_states"]["prod"] == {"status": "pending", "test_status": "not_tested", "region": "us-east-1"}
    assert item["last_known_good_commit"] == GOOD
    released = pipeline.objects(pipeline.release_bucket, GOOD)
    assert released == pipeline.objects(pipeline.candidate_bucket, GOOD)
    assert f"orders/{GOOD}/artifact-manifest.json" in released

    prod = pipeline.run("prod", GOOD)
    assert prod["status"] == "SUCCEEDED", prod
    item = pipeline.item(GOOD)
    assert item["status"] == "deployed" and item["global_health_status"] == "healthy"
    assert item["environment_states"]["prod"]["status"] == "deployed"
    assert item["environment_states"]["prod"]["test_status"] == "test_passed"
    assert item["execution_status"] == "succeeded" and item["finalizer_ran"] is True
    types = [e["type"] for e in pipeline.events()]
    assert types.count("ArtifactPromoted") == 1 and "DeploySucceeded" in types
    print(f"transitions: stage {len(stage['states'])}, prod {len(prod['states'])}")
