@convergence
Feature: Node convergence
  A node agent reconfigures only the partitions whose version changed, one at
  a time, plus any partition not processed for a day. A partition that fails
  is retried with a growing delay, never every minute forever, and never
  holds the others back. Promises that fail put their partition in error.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 5 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests 5 instances of "hello" titled "app"
    And the nodes converge within 15 minutes

  @determinism
  Scenario: Every instance is configured once
    Then node "COMP-1" configured 5 partitions because "new"
    And node "COMP-1" configured at most 1 partition at a time
    And all 5 instances "app" are reported started

  Scenario: Only the changed partition is reconfigured
    When "alice" changes parameter "color" of "app-3" to "blue"
    And the nodes converge within 5 minutes
    Then node "COMP-1" configured 1 partition because "changed"
    And node "COMP-1" configured "app-3" 1 time

  @sim-only @virtual-time
  Scenario: When nothing changes, nothing is reconfigured
    When 3 hours pass
    Then node "COMP-1" configured nothing
    And all 5 instances "app" are reported started

  @sim-only @virtual-time
  Scenario: Every partition is processed again at least once a day
    When 25 hours pass
    Then node "COMP-1" configured 5 partitions because "periodic"
    And all 5 instances "app" are reported started

  Scenario: A partition that fails to configure does not hold the others back
    When "alice" changes parameter "fail" of "app-2" to "configure"
    And "alice" changes parameter "color" of "app-4" to "red"
    And the nodes converge within 5 minutes
    Then "app-2" is reported in error mentioning "configur"
    And "app-4" is reported started
    And node "COMP-1" configured "app-4" 1 time

  @sim-only @virtual-time
  Scenario: A failing partition is retried with back-off, not every minute
    When "alice" changes parameter "fail" of "app-2" to "configure"
    And 2 hours pass
    Then node "COMP-1" configured "app-2" at least 4 times
    And node "COMP-1" configured "app-2" at most 8 times
    When "alice" changes parameter "fail" of "app-2" to "no"
    And the nodes converge within 5 minutes
    Then "app-2" is reported started
    And node "COMP-1" configured "app-2" 1 time

  Scenario: A failing promise puts the partition in error until it passes again
    When the promise of "app-4" starts failing
    And the nodes converge within 5 minutes
    Then "app-4" is reported in error mentioning "promise"
    And "app-3" is reported started
    When the promise of "app-4" passes again
    And the nodes converge within 5 minutes
    Then "app-4" is reported started

  @sim-only @virtual-time
  Scenario: A partition whose promise fails after a change is retried with back-off
    When the promise of "app-1" starts failing
    And "alice" changes parameter "color" of "app-1" to "green"
    And 1 hour passes
    Then "app-1" is reported in error mentioning "promise"
    And node "COMP-1" configured "app-1" at least 3 times
    And node "COMP-1" configured "app-1" at most 7 times
    When the promise of "app-1" passes again
    And 2 hours pass
    Then "app-1" is reported started
