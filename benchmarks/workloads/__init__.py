"""The workloads of issue 3; each ``run(scale, folder)`` returns its ``Row``s."""
