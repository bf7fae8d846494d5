"""Work beyond one machine on Hugging Face Jobs (``imagenet-e jobs …``), built on :mod:`imagenet_e.hf_jobs`.

* :mod:`.generate_jobs` — ``imagenet-e jobs generate``: a generation run's shards as N jobs, merged here;
* :mod:`.evaluate_jobs` — ``imagenet-e jobs evaluate``: many models, one job each, results downloaded here;
* :mod:`.common` — the user's flags handed on verbatim, local paths refused, one-commit uploads;
* :mod:`.commands` — the ``jobs`` verbs (each job runs ``jobs generate-shard`` / ``jobs evaluate-model``).
"""
