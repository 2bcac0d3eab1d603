// connect() with the options given as JSON in OPTS; setup() makes a thrown
// exception abort the run.
import massconn from 'k6/x/massconn';

export function setup() {
  massconn.connect(JSON.parse(__ENV.OPTS));
}

export default function () {}
