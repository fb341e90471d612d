-- wrk script: POST the body in $SB_BODY (JSON) to the path given to wrk.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("SB_BODY") or '{"phone":"+79990001122","name":"Иван","status":"new"}'
