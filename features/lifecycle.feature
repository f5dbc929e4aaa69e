@lifecycle
Feature: Stop, start and destroy
  A requester stops, starts and destroys its instances by requesting them
  again in another state. A destroyed instance's partition is wiped by its
  node and freed for the next request.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello"
    And the nodes converge within 10 minutes

  Scenario: A stopped instance no longer runs, keeps its partition, and starts again
    When "alice" stops "web"
    And the nodes converge within 5 minutes
    Then "web" is reported stopped
    And node "COMP-1" does not run "web"
    And 1 partition of "COMP-1" is busy
    When "alice" starts "web"
    And the nodes converge within 5 minutes
    Then "web" is reported started
    And node "COMP-1" runs "web"

  @determinism
  Scenario: A destroyed instance is wiped and its partition freed
    When "alice" destroys "web"
    Then "web" is requested destroyed
    When the nodes converge within 5 minutes
    Then 2 partitions of "COMP-1" are free
    And "web" is destroyed
    And node "COMP-1" holds nothing

  Scenario: The freed partition goes to the next request
    Given "alice" destroys "web"
    And the nodes converge within 5 minutes
    When "alice" requests "api" of "hello"
    Then "api" is allocated on "COMP-1" partition "slappart0"
    When the nodes converge within 5 minutes
    Then "api" is reported started
    And node "COMP-1" configured 1 partition because "new"

  Scenario: A stopped instance can be destroyed
    Given "alice" stops "web"
    And the nodes converge within 5 minutes
    When "alice" destroys "web"
    And the nodes converge within 5 minutes
    Then 2 partitions of "COMP-1" are free

  Scenario: Requesting a destroyed title again makes a new instance
    Given "alice" destroys "web"
    And the nodes converge within 5 minutes
    When "alice" starts "web"
    Then it succeeds
    And "web" has a new guid
    When the nodes converge within 5 minutes
    Then "web" is reported started
