@outage
Feature: Master outage and network partitions
  Nodes keep running what they run when the master cannot be reached
  (offline mode), keep their reports until it answers again, and catch up
  with whatever changed. The master loses nothing it acknowledged.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions
    And a computer "COMP-2" of "alice" with 2 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" supplies "hello" on "COMP-2"
    And "alice" requests "web" of "hello" with:
      | sla computer_guid | COMP-1 |
    And "alice" requests "api" of "hello" with:
      | sla computer_guid | COMP-2 |
    And the nodes converge within 10 minutes

  Scenario: While the master is down, nodes keep their instances running and requests wait
    When the master goes down
    And the nodes converge within 5 minutes
    Then node "COMP-1" runs "web"
    And node "COMP-2" runs "api"
    When "alice" requests "new" of "hello"
    Then it fails as unavailable
    When the master comes back
    And "alice" requests "new" of "hello"
    Then it succeeds
    When the nodes converge within 10 minutes
    Then "new" is reported started
    And "web" is reported started
    And "web" kept its guid and version

  @determinism
  Scenario: A change acknowledged before an outage is applied after it
    When "alice" changes parameter "color" of "web" to "green"
    And the master goes down
    And the nodes converge within 5 minutes
    Then node "COMP-1" configured nothing
    When the master comes back
    And the nodes converge within 5 minutes
    Then node "COMP-1" configured "web" 1 time
    And "web" kept its guid with a new version
    And "web" is reported started

  Scenario: Reports made while the master is down are delivered when it is back
    When the promise of "web" starts failing
    And the master goes down
    And the nodes converge within 5 minutes
    And the master comes back
    And the nodes converge within 5 minutes
    Then "web" is reported in error mentioning "promise"

  Scenario: A node rebooted while the master is down restarts what it ran
    When the master goes down
    And node "COMP-1" crashes
    And node "COMP-1" reboots
    And the nodes converge within 5 minutes
    Then node "COMP-1" runs "web"
    When the master comes back
    And the nodes converge within 5 minutes
    Then "web" is reported started
    And node "COMP-1" configured nothing

  @sim-only @virtual-time
  Scenario: Through a two-hour master outage nodes keep running, and nothing is redone after it
    When the master goes down
    And 2 hours pass
    Then node "COMP-1" runs "web"
    And node "COMP-2" runs "api"
    When the master comes back
    # Offline, a node backs off from 1 minute doubling up to retry_max (1 hour), each wait up to a
    # tenth longer (its schedule's jitter): its first pass after 2 hours comes 3 to 16 minutes later.
    And the nodes converge within 20 minutes
    Then node "COMP-1" configured nothing
    And node "COMP-2" configured nothing
    And "api" is reported started

  Scenario: A node cut from the master keeps running and catches up when the network heals
    When node "COMP-2" is cut from the master
    And "alice" changes parameter "color" of "api" to "red"
    And "alice" changes parameter "color" of "web" to "red"
    And the nodes converge within 5 minutes
    Then node "COMP-1" configured "web" 1 time
    And node "COMP-2" configured nothing
    And node "COMP-2" runs "api"
    When node "COMP-2" is reconnected
    And the nodes converge within 5 minutes
    Then node "COMP-2" configured "api" 1 time
    And "api" is reported started
