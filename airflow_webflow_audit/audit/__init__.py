"""Range audits of landed windows: from the bucket alone (:mod:`.bucket`), optionally recounted against
the API (:mod:`.recount`), reported as a table or JSON (:mod:`.report`); the command line is :mod:`.cli`.
"""
