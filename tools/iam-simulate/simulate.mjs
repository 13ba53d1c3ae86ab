// Evaluates IAM requests with @cloud-copilot/iam-simulate (docs/rehearsal.md).
// stdin: {"cases": [{"id", "principal", "accountId", "action", "resource",
//                    "context": {key: value|[values]}, "identityPolicies": [{name, policy}],
//                    "resourcePolicy": policy|null}]}
// stdout: {"results": [{"id", "decision": "Allowed"|"ExplicitlyDenied"|"ImplicitlyDenied"|"error",
//                       "errors": ...}]}
// Strict mode: the request is evaluated exactly as supplied (a key the request lacks is absent).
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const { cases } = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const results = []
for (const c of cases) {
  const simulation = {
    identityPolicies: c.identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: c.resourcePolicy ?? undefined,
    request: {
      action: c.action,
      principal: c.principal,
      resource: { accountId: c.accountId, resource: c.resource },
      contextVariables: c.context ?? {}
    }
  }
  const response = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    results.push({ id: c.id, decision: 'error', errors: response.errors })
  } else {
    results.push({ id: c.id, decision: response.overallResult })
  }
}
process.stdout.write(JSON.stringify({ results }) + '\n')
