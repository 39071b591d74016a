"""The measured profiler: the only code in inferplan that imports torch, transformers, torchao or pynvml.

Everything here is imported lazily (``import profiler.measure`` is cheap). Entry point:
:func:`profiler.measure.sweep.run_measured_profile`; ``inferplan profile MODEL --measure [--device cpu]``.
Modules: ``build`` (config -> model on device, torchao quantisation), ``hf_config`` (ModelSpec ->
transformers config), ``timers`` (events, warm-ups, median/IQR), ``power`` (NVML sampler),
``environment`` (versions, driver, clocks), ``sweep`` (the grid, OOM boundaries, atomic resume).
"""
