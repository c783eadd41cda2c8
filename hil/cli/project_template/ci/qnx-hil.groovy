// qnx-hil's nightly jobs for Jenkins (written by `hil init`, qnx-hil @@version): a step to load
// from a Jenkinsfile, in a scripted block:
//   script { load('ci/qnx-hil.groovy').run() }
// One parallel stage per job, each on its own agent; each runs ci/qnx-hil-job.sh (it says what
// every variable means) as the agent's user: root, or a user with sudo.
// - public: the public targets (local, qemu, qemu-arm64) on any Debian/Ubuntu agent (label linux).
// - lab-LABEL: one per lab class (a label of your targets/*.toml boards), on an agent labelled
//   qnx-lab-LABEL that reaches those boards and has their toolchain (the QNX SDP).
// Exit 3 (only the infrastructure failed: a board away, an agent short of a tool) marks the
// stage unstable, not failed.  JUnit (junit step) and Cobertura (Coverage plugin) are published.

def run() {
    // Where qnx-hil comes from: pypi, an index URL (https://host/.../simple) or a .whl file.
    def QNX_HIL_SOURCE = env.QNX_HIL_SOURCE ?: 'pypi'

    def JOBS = [
        [name: 'public', agent: 'linux', targets: 'local qemu qemu-arm64', extras: 'coverage', check: '0', args: '--coverage'],
        // one per lab class: a label your board definitions carry (labels = [...] in targets/*.toml)
        [name: 'lab-example', agent: 'qnx-lab-example', targets: 'label:example', extras: 'labgrid', check: '1', args: ''],
    ]

    def stages = [:]
    for (job in JOBS) {
        def j = job
        stages[j.name] = {
            node(j.agent) {
                stage(j.name) {
                    checkout scm
                    withEnv([
                        "QNX_HIL_SOURCE=${QNX_HIL_SOURCE}",
                        "HIL_TARGETS=${j.targets}",
                        "QNX_HIL_EXTRAS=${j.extras}",
                        "HIL_CHECK=${j.check}",
                        "HIL_NIGHTLY_ARGS=${j.args}",
                        "XDG_CACHE_HOME=${env.WORKSPACE}/.cache",
                    ]) {
                        def rc = sh(script: 'sh ci/qnx-hil-job.sh', returnStatus: true)
                        junit(testResults: 'reports/*/junit.xml', allowEmptyResults: true)
                        if (j.args.contains('--coverage')) {
                            recordCoverage(tools: [[parser: 'COBERTURA', pattern: 'reports/*/coverage/coverage.xml']])
                        }
                        archiveArtifacts(artifacts: 'reports/**', allowEmptyArchive: true)
                        if (rc == 3) {
                            unstable("${j.name}: infrastructure errors only (exit 3): see reports/*/summary.txt")
                        } else if (rc != 0) {
                            error("${j.name}: HIL tests failed (exit ${rc})")
                        }
                    }
                }
            }
        }
    }
    parallel stages
}

return this
