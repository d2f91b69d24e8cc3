"""Running ``pvd`` commands through a job server (:mod:`pvd.jobs.server`) that has torch and pvd
loaded, so that a workflow's many short jobs skip the start-up each; :mod:`pvd.jobs.client` is the
``pvd`` command's entry point. The top layer: it may import anything in pvd, nothing imports it."""
