"""SamplerRecord: the typed sampler details of a BayesFit, saved as a plain dict."""

import json

import numpy as np
import pytest

from bayesglmm.results.sampler_record import SamplerRecord


def test_only_the_fields_that_apply_are_kept_and_read_back():
    record = SamplerRecord(qpoints=5, re_acceptance=np.float64(0.93), mode_converged=np.bool_(True))
    saved = record.to_dict()
    assert saved == {"qpoints": 5, "re_acceptance": 0.93, "mode_converged": True}
    assert type(saved["re_acceptance"]) is float and type(saved["mode_converged"]) is bool
    json.dumps(saved)  # plain Python values
    assert SamplerRecord.from_dict(json.loads(json.dumps(saved))) == record
    assert SamplerRecord.from_dict(None) == SamplerRecord()


def test_a_record_from_another_version_loads_without_its_unknown_keys():
    assert SamplerRecord.from_dict({"qpoints": 7, "a_future_field": 1}) == SamplerRecord(qpoints=7)


def test_it_reads_as_the_mapping_of_its_set_fields():
    record = SamplerRecord(max_tree_depth=10, dense_mass=False)
    assert record["max_tree_depth"] == 10 and record["dense_mass"] is False
    assert "dense_mass" in record and "qpoints" not in record and len(record) == 2
    assert dict(record.items()) == {"max_tree_depth": 10, "dense_mass": False}
    for missing in ("qpoints", "not_a_field"):
        with pytest.raises(KeyError):
            record[missing]
    assert record.get("qpoints") is None
