"""The TASKNAME task for mytasks (its class: ``TASKPKG.task.TASKNAME``)."""
