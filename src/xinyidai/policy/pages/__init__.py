"""Pages of policy money: the finance office's (`office`), the banks' and guarantors' (`bank`), the
enterprise's (`enterprise`) and the figures (`figures`)."""
