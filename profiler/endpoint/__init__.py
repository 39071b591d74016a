"""Measure a running OpenAI-compatible server from its client: ``inferplan endpoint``.

:mod:`~profiler.endpoint.sse` frames and reads a stream, :mod:`~profiler.endpoint.client` times one request,
:mod:`~profiler.endpoint.prompts` sizes prompts, :mod:`~profiler.endpoint.load` drives a load point,
:mod:`~profiler.endpoint.stats` summarises it, :mod:`~profiler.endpoint.scrape` reads the server's Prometheus
/metrics (:mod:`~profiler.endpoint.prometheus` parses it, :mod:`~profiler.endpoint.server_metrics` reads the
engines' names), and :mod:`~profiler.endpoint.run` runs the whole test. The result becomes a profile (source
``endpoint``) through :mod:`profiler.interop.endpoint_doc`. Needs aiohttp (``pip install 'inferplan[endpoint]'``).
"""
