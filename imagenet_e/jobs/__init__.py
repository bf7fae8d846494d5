"""Work beyond one machine on Hugging Face Jobs (``imagenet-e jobs …``), built on :mod:`imagenet_e.hf_jobs`.

* :mod:`.generate_jobs` — ``imagenet-e jobs generate``: a generation run's shards as N jobs, merged here;
* :mod:`.commands` — the ``jobs`` verbs.
"""
