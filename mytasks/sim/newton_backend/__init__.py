"""The isaacgym API implemented on Newton. Nothing outside ``mytasks.sim`` imports Newton."""
